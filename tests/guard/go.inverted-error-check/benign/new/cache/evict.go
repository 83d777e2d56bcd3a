package cache

import "os"

func (c *Cache) Evict(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("evict %s: %w", path, err)
	}
	c.size--
	return nil
}
