int load(const char *path, struct table *t)
{
	char *buf = malloc(4096);
	if (!buf)
		return -1;
	FILE *f = fopen(path, "r");
	if (!f) {
		free(buf);
		return -1;
	}
	size_t n = fread(buf, 1, 4096, f);
	parse(t, buf, n);
	fclose(f);
	free(buf);
	return 0;
}
