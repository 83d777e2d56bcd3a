static int verify(struct ctx *c, const unsigned char *sig, size_t len)
{
	check_signature(c->key, sig, len);
	c->verified = 1;
	return 0;
fail:
	return -1;
}
