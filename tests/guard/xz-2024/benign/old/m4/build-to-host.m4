# build-to-host.m4 serial 3
AC_DEFUN([gl_BUILD_TO_HOST], [
  AC_REQUIRE([AC_CANONICAL_BUILD])
  gl_final_[$1]="$[$1]"
])
