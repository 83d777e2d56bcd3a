static int verify(struct ctx *c, const unsigned char *sig, size_t len)
{
	if (check_signature(c->key, sig, len) < 0)
		goto fail;
	c->verified = 1;
	return 0;
fail:
	return -1;
}
