package sls

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// credentials gives the current SLS credentials: the static ones, or those
// of a JSON file that is read again when its modification time or size
// changes (checked at most once a second, and at once after a 401), so STS
// tokens rotate without a restart.
type credentials struct {
	static config.SLSCredentials
	file   string

	mu      sync.Mutex
	cur     config.SLSCredentials
	modTime time.Time
	size    int64
	checked time.Time
}

func newCredentials(static config.SLSCredentials, file string) *credentials {
	return &credentials{static: static, file: file, cur: static}
}

// get returns the credentials to sign the next request with. force reads
// the file even if it was checked less than a second ago.
func (c *credentials) get(force bool) (config.SLSCredentials, error) {
	if c.file == "" {
		return c.static, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(c.checked) < time.Second && c.cur.AccessKeyID != "" {
		return c.cur, nil
	}
	c.checked = now
	fi, err := os.Stat(c.file)
	if err != nil {
		if c.cur.AccessKeyID != "" {
			return c.cur, nil // keep the last good ones while the file is swapped
		}
		return config.SLSCredentials{}, fmt.Errorf("credentials file: %w", err)
	}
	if fi.ModTime().Equal(c.modTime) && fi.Size() == c.size && c.cur.AccessKeyID != "" {
		return c.cur, nil
	}
	got, err := readCredentials(c.file)
	if err != nil {
		if c.cur.AccessKeyID != "" {
			return c.cur, nil
		}
		return config.SLSCredentials{}, err
	}
	c.cur, c.modTime, c.size = got, fi.ModTime(), fi.Size()
	return c.cur, nil
}

// readCredentials reads a credentials file:
//
//	{"AccessKeyId": "…", "AccessKeySecret": "…", "SecurityToken": "…"}
func readCredentials(path string) (config.SLSCredentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return config.SLSCredentials{}, fmt.Errorf("credentials file: %w", err)
	}
	var c config.SLSCredentials
	if err := json.Unmarshal(data, &c); err != nil {
		return config.SLSCredentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return config.SLSCredentials{}, fmt.Errorf("credentials file %s: %w", path, errNoCredentials)
	}
	return c, nil
}

var errNoCredentials = errors.New("AccessKeyId and AccessKeySecret are required")
