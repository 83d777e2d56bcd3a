package cache

import (
	"fmt"
	"os"
)

func (c *Cache) Evict(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	c.size--
	_, _ = fmt.Fprintln(c.log, "evicted", path)
	return nil
}
