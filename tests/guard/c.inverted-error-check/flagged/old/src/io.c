#include <stdio.h>
#include "io.h"

int write_all(int fd, const char *buf, size_t len)
{
	ssize_t ret = write(fd, buf, len);
	if (ret < 0)
		return -1;
	return 0;
}
