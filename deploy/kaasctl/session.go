package kaasctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// session is what login stores and every other command uses: where VCD is and who the
// user is there. The token is a bearer token, so the file is the user's only (0600).
type session struct {
	URL      string `json:"url"`
	Org      string `json:"org"`
	User     string `json:"user,omitempty"`
	Token    string `json:"token"`
	Insecure bool   `json:"insecure,omitempty"`
}

// errNotLoggedIn is returned by every command that needs a session when there is none.
var errNotLoggedIn = errors.New("not logged in: run kaasctl login URL --org ORG --user USER")

// configPath says where the session file is: the --config flag, then KAAS_CONFIG, then
// config.yaml in the streams' config dir or the user's config dir.
func (a *app) configPath() (string, error) {
	if a.configFlag != "" {
		return a.configFlag, nil
	}
	if p := a.getenv("KAAS_CONFIG"); p != "" {
		return p, nil
	}
	dir := a.s.ConfigDir
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find the config dir (use --config or KAAS_CONFIG): %w", err)
		}
		dir = filepath.Join(d, "kaasctl")
	}
	return filepath.Join(dir, "config.yaml"), nil
}

// loadSession reads the stored session; errNotLoggedIn when there is none.
func (a *app) loadSession() (*session, error) {
	path, err := a.configPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("read the session: %w", err)
	}
	var s session
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read the session %s: %w", path, err)
	}
	if s.URL == "" || s.Token == "" {
		return nil, errNotLoggedIn
	}
	return &s, nil
}

// saveSession writes the session, readable by the user only, and replaces the old file
// in one rename so that a crash never leaves half a file.
func (a *app) saveSession(s *session) (string, error) {
	path, err := a.configPath()
	if err != nil {
		return "", err
	}
	b, err := yaml.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode the session: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("save the session: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return "", fmt.Errorf("save the session: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("save the session: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", fmt.Errorf("save the session: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("save the session: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("save the session: %w", err)
	}
	return path, nil
}

// deleteSession removes the stored session; there being none is not an error.
func (a *app) deleteSession() error {
	path, err := a.configPath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete the session: %w", err)
	}
	return nil
}
