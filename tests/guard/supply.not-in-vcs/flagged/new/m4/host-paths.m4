AC_DEFUN([gl_HOST_PATHS], [
  gl_host_bindir=$bindir
])
