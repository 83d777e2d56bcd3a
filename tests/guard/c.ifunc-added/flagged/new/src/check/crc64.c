#include "crc.h"

uint64_t crc64_generic(const uint8_t *buf, size_t size, uint64_t crc)
{
	while (size--)
		crc = table[(crc ^ *buf++) & 0xff] ^ (crc >> 8);
	return crc;
}

static crc64_func_type crc64_resolve(void)
{
	return cpu_has_clmul() ? &crc64_clmul : &crc64_generic;
}

uint64_t crc64(const uint8_t *buf, size_t size, uint64_t crc)
	__attribute__((__ifunc__("crc64_resolve")));
