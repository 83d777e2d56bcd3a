#include "crc.h"

uint64_t crc64_generic(const uint8_t *buf, size_t size, uint64_t crc)
{
	while (size--)
		crc = table[(crc ^ *buf++) & 0xff] ^ (crc >> 8);
	return crc;
}
