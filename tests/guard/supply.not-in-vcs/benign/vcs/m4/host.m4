AC_DEFUN([gl_CHECK_HOST], [
  AC_REQUIRE([AC_CANONICAL_HOST])
  gl_host_prefix=$prefix
])
