package cache

import "os"

func (c *Cache) Evict(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	c.size--
	return nil
}
