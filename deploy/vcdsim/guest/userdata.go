package guest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// userData is what cloud-init made of a node's user data: the files it wrote and the
// scripts of them its runcmd ran.
type userData struct {
	hostname string
	files    map[string]writtenFile
	ran      []string // paths of written scripts that runcmd runs
	keys     []string // ssh_authorized_keys: what cloud-init's ssh module installs
}

type writtenFile struct {
	content string
	mode    uint64
}

// maxUserData bounds what the guest reads, decoded or decompressed.
const maxUserData = 1 << 20

// readUserData reads the user data in guestinfo as cloud-init's VMware datasource and its
// cloud-config modules do (write_files, then runcmd).
func readUserData(info map[string]string) (*userData, error) {
	raw, err := decode(info[KeyUserData], info[KeyUserDataEncoding])
	if err != nil {
		return nil, fmt.Errorf("user data: %w", err)
	}
	// cloud-init picks the handler by the first line; only a cloud-config can write and run
	// the bootstrap.
	first, _, _ := strings.Cut(string(raw), "\n")
	if strings.TrimRight(first, " \t\r") != "#cloud-config" {
		return nil, errors.New("user data: not a #cloud-config")
	}
	doc, err := readYAML(raw)
	if err != nil {
		return nil, fmt.Errorf("cloud-config: %w", err)
	}
	ud := &userData{files: map[string]writtenFile{}}
	if ud.hostname, err = doc.str("hostname"); err != nil {
		return nil, err
	}
	if ud.keys, err = doc.strs("ssh_authorized_keys"); err != nil {
		return nil, err
	}
	files, err := doc.list("write_files")
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		wf, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("write_files[%d]: not a mapping", i)
		}
		path, content, err := writeFile(object(wf))
		if err != nil {
			return nil, fmt.Errorf("write_files[%d]: %w", i, err)
		}
		ud.files[path] = content // a later file of the same path overwrites
	}
	cmds, err := doc.list("runcmd")
	if err != nil {
		return nil, err
	}
	for _, c := range cmds {
		if script := ud.script(c); script != "" {
			ud.ran = append(ud.ran, script)
		}
	}
	if len(ud.ran) == 0 {
		return nil, errors.New("runcmd runs no script the user data writes")
	}
	return ud, nil
}

// decode undoes guestinfo.userdata.encoding as cloud-init's VMware datasource does: an
// encoding it does not know leaves the data as it is.
func decode(data, encoding string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64", "b64":
		return base64.StdEncoding.DecodeString(data)
	case "gzip+base64", "gz+b64":
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, err
		}
		return gunzip(b)
	}
	return []byte(data), nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxUserData+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxUserData {
		return nil, errors.New("larger than the guest reads")
	}
	return out, nil
}

// writeFile reads one write_files entry: its path, content (decoded as its encoding says)
// and mode (cloud-init's default 0644 when none or none it can read).
func writeFile(f object) (string, writtenFile, error) {
	path, err := f.str("path")
	if err != nil || path == "" {
		return "", writtenFile{}, errors.New("no path")
	}
	content, err := f.str("content")
	if err != nil {
		return "", writtenFile{}, err
	}
	enc, err := f.str("encoding")
	if err != nil {
		return "", writtenFile{}, err
	}
	var b []byte
	switch strings.ToLower(enc) {
	case "b64", "base64":
		b, err = base64.StdEncoding.DecodeString(content)
	case "gz", "gzip":
		b, err = gunzip([]byte(content))
	case "gz+b64", "gzip+base64", "gz+base64", "gzip+b64":
		if b, err = base64.StdEncoding.DecodeString(content); err == nil {
			b, err = gunzip(b)
		}
	default:
		b = []byte(content)
	}
	if err != nil {
		return "", writtenFile{}, fmt.Errorf("%s: content: %w", path, err)
	}
	mode := uint64(0o644)
	switch p := f["permissions"].(type) {
	case string:
		if m, err := strconv.ParseUint(strings.TrimPrefix(p, "0o"), 8, 32); err == nil {
			mode = m
		}
	case float64: // YAML 1.1 reads an unquoted 0755 as the octal number it is
		mode = uint64(p)
	}
	return path, writtenFile{content: string(b), mode: mode}, nil
}

// shells are the interpreters a runcmd entry may run a script with.
var shells = map[string]bool{"sh": true, "bash": true, "/bin/sh": true, "/bin/bash": true, "/usr/bin/sh": true, "/usr/bin/bash": true}

// script returns the path of the written script a runcmd entry runs, or "". A list entry
// is run as it is (argv), a string one by sh -c. A script run by its path must be
// executable and start with #!; one handed to a shell need only exist.
func (ud *userData) script(entry any) string {
	var argv []string
	switch e := entry.(type) {
	case string:
		argv = shellWords(e)
	case []any:
		for _, a := range e {
			s, ok := a.(string)
			if !ok {
				return ""
			}
			argv = append(argv, s)
		}
	}
	if len(argv) == 0 {
		return ""
	}
	if shells[argv[0]] {
		if len(argv) > 1 {
			if _, ok := ud.files[argv[1]]; ok {
				return argv[1]
			}
		}
		return ""
	}
	f, ok := ud.files[argv[0]]
	if !ok || f.mode&0o111 == 0 || !strings.HasPrefix(f.content, "#!") {
		return ""
	}
	return argv[0]
}

// kubeadmConfig returns the config file a script that runcmd runs hands to
// `kubeadm <verb> --config FILE`, as kubeadm reads it.
func (ud *userData) kubeadmConfig(verb string) (string, error) {
	for _, path := range ud.ran {
		for line := range strings.Lines(ud.files[path].content) {
			w := shellWords(line)
			if len(w) < 2 || w[0] != "kubeadm" || w[1] != verb {
				continue
			}
			for i, a := range w[2:] {
				var file string
				switch {
				case a == "--config" && i+3 < len(w):
					file = w[i+3]
				case strings.HasPrefix(a, "--config="):
					file = strings.TrimPrefix(a, "--config=")
				default:
					continue
				}
				f, ok := ud.files[file]
				if !ok {
					return "", fmt.Errorf("kubeadm %s: %s was never written", verb, file)
				}
				return f.content, nil
			}
			return "", fmt.Errorf("kubeadm %s runs without a --config", verb)
		}
	}
	return "", fmt.Errorf("no script runs kubeadm %s", verb)
}

// shellWords splits a shell command line into words: quotes group, a comment ends it, and
// a command list (;, &&, ||) ends the first command. It does no expansion: a word with a $
// stays as written, which names no file.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return words
		case r == ';' || r == '&' || r == '|':
			if inWord {
				words = append(words, cur.String())
			}
			return words
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// object is a YAML mapping as cloud-init and kubeadm see it: keys are case-sensitive, and
// a value of the wrong type is an error, not a default.
type object map[string]any

// readYAML reads one YAML document as YAML 1.1 does (PyYAML in cloud-init, sigs.k8s.io/yaml
// in kubeadm): a value is typed by its text, not by the field it lands in, so that "no"
// is false and not the string no.
func readYAML(doc []byte) (object, error) {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var o map[string]any
	if err := json.Unmarshal(j, &o); err != nil {
		return nil, errors.New("not a mapping")
	}
	if o == nil {
		return nil, errors.New("empty")
	}
	return o, nil
}

// str returns the string at a key, "" if there is none (or null).
func (o object) str(key string) (string, error) {
	switch v := o[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("%s: not a string", key)
}

// obj returns the mapping at a key, empty if there is none.
func (o object) obj(key string) (object, error) {
	switch v := o[key].(type) {
	case nil:
		return object{}, nil
	case map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("%s: not a mapping", key)
}

// list returns the list at a key, nil if there is none.
func (o object) list(key string) ([]any, error) {
	switch v := o[key].(type) {
	case nil:
		return nil, nil
	case []any:
		return v, nil
	}
	return nil, fmt.Errorf("%s: not a list", key)
}

// strs returns the list of strings at a key.
func (o object) strs(key string) ([]string, error) {
	l, err := o.list(key)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: not a list of strings", key)
		}
		out = append(out, s)
	}
	return out, nil
}
