static int verify(struct ctx *c, const unsigned char *sig, size_t len)
{
	int rc = check_signature(c->key, sig, len);
	if (rc < 0)
		goto fail;
	c->verified = 1;
	return 0;
fail:
	return -1;
}
