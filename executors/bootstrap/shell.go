package bootstrap

import (
	"errors"
	"strings"
)

// shellQuote returns s as one POSIX shell word: in single quotes, inside which the shell
// reads every byte literally; a quote in s closes them, is written escaped (\') and opens
// them again.
// A shell word cannot hold a NUL byte, so s must not.
func shellQuote(s string) (string, error) {
	if strings.ContainsRune(s, 0) {
		return "", errors.New("a shell word cannot hold a NUL byte")
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}
