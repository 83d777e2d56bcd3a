import subprocess


def verify(tarball, sig):
    subprocess.run(["gpgv", sig, tarball], check=True)


def has_gpgv():
    r = subprocess.run(["gpgv", "--version"], check=False, capture_output=True)
    return r.returncode == 0
