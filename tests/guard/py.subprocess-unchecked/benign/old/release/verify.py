import subprocess


def verify(tarball, sig):
    subprocess.run(["gpgv", sig, tarball], check=True)
