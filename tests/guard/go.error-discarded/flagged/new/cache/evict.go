package cache

import "os"

func (c *Cache) Evict(path string) error {
	_ = os.Remove(path)
	c.size--
	return nil
}
