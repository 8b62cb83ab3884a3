package kaasctl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// systemOrg is VCD's provider org; its users log in through the provider endpoints.
const systemOrg = "System"

func (a *app) loginCmd() *cobra.Command {
	var (
		org, user                    string
		passwordStdin, apiTokenStdin bool
		insecure                     bool
	)
	cmd := &cobra.Command{
		Use:   "login URL --org ORG (--user USER [--password-stdin] | --api-token-stdin)",
		Short: "Log in to VMware Cloud Director and remember the session",
		Long: `Log in to VMware Cloud Director at URL (https://vcd.example.com) as USER of ORG, with a
password (asked without echo, or read from standard input with --password-stdin) or with
an API token read from standard input (--api-token-stdin). The session is stored in the
config file, readable by you only; "kaasctl logout" forgets it.`,
		Example: `  kaasctl login https://vcd.example.com --org acme --user alice
  echo "$PASSWORD" | kaasctl login https://vcd.example.com --org acme --user alice --password-stdin
  kaasctl login https://127.0.0.1:8443 --org acme --api-token-stdin --insecure < token.txt`,
		GroupID: "session",
		Args:    exactArgs(1, "VCD's URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := normalizeURL(args[0])
			if err != nil {
				return &usageError{err}
			}
			switch {
			case org == "":
				return usagef("--org is required")
			case apiTokenStdin && (user != "" || passwordStdin):
				return usagef("--api-token-stdin logs in with a token: leave out --user and --password-stdin")
			case !apiTokenStdin && user == "":
				return usagef("--user is required (or --api-token-stdin)")
			}
			s := &session{URL: base, Org: org, User: user, Insecure: insecure}
			hc := a.httpClient(insecure)
			ctx := cmd.Context()
			if apiTokenStdin {
				tok, err := readSecretLine(a.s.In)
				if err != nil {
					return &usageError{fmt.Errorf("read the API token from standard input: %w", err)}
				}
				if s.Token, err = loginToken(ctx, hc, base, org, tok); err != nil {
					return err
				}
				s.User = whoami(ctx, hc, s)
			} else {
				pass, err := a.password(passwordStdin, user+"@"+org)
				if err != nil {
					return err
				}
				if s.Token, err = loginPassword(ctx, hc, base, org, user, pass); err != nil {
					return err
				}
			}
			path, err := a.saveSession(s)
			if err != nil {
				return err
			}
			who := s.User + "@" + org
			if apiTokenStdin {
				who += " with an API token"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (session in %s).\n", base, who, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization (System for providers)")
	cmd.Flags().StringVar(&user, "user", "", "user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().BoolVar(&apiTokenStdin, "api-token-stdin", false, "log in with an API token read from standard input")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "skip TLS certificate verification (a lab VCD's self-signed certificate); remembered")
	return cmd
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "End the session and forget it",
		GroupID: "session",
		Args:    exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.loadSession()
			if err == errNotLoggedIn {
				fmt.Fprintln(cmd.OutOrStdout(), "Not logged in.")
				return nil
			}
			if err == nil {
				// Best effort: the session ends at VCD too, if VCD answers soon.
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
				logoutVCD(ctx, a.httpClient(s.Insecure), s)
				cancel()
			}
			if err := a.deleteSession(); err != nil {
				return err
			}
			if s != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Logged out of %s.\n", s.URL)
			}
			return nil
		},
	}
}

// normalizeURL turns what a user types (vcd.example.com, https://vcd/api/) into VCD's
// address, scheme and host.
func normalizeURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%q is not VCD's address (https://vcd.example.com)", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/api")
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// password asks for the password on the terminal without echo, or reads it from standard
// input.
func (a *app) password(fromStdin bool, who string) (string, error) {
	if fromStdin {
		p, err := readSecretLine(a.s.In)
		if err != nil {
			return "", &usageError{fmt.Errorf("read the password from standard input: %w", err)}
		}
		return p, nil
	}
	f, ok := a.s.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no terminal to ask for the password: use --password-stdin")
	}
	fmt.Fprintf(a.s.Err, "Password for %s: ", who)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.s.Err)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}

// readSecretLine reads the first line of r, without its line ending.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("nothing was given")
	}
	return line, nil
}

// loginPassword opens a session with CloudAPI's sessions endpoint (basic auth
// user@org); the session token comes back in a header.
func loginPassword(ctx context.Context, hc *http.Client, base, org, user, pass string) (string, error) {
	path := "/cloudapi/1.0.0/sessions"
	if strings.EqualFold(org, systemOrg) {
		path += "/provider" // VCD refuses System org users on the tenant endpoint
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, nil)
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	req.SetBasicAuth(user+"@"+org, pass)
	req.Header.Set("Accept", acceptLogin)
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in to %s: %w", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		return "", fmt.Errorf("log in to %s as %s@%s: wrong user, org or password", base, user, org)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("log in to %s: %w", base, vcdError(resp.StatusCode, b))
	}
	tok := resp.Header.Get("X-Vmware-Vcloud-Access-Token")
	if tok == "" {
		return "", fmt.Errorf("log in to %s: VCD answered without a session token (is it VCD 10.0 or newer?)", base)
	}
	return tok, nil
}

// loginToken trades an API token (a refresh token) for a session at VCD's OAuth endpoint.
func loginToken(ctx context.Context, hc *http.Client, base, org, token string) (string, error) {
	path := "/oauth/tenant/" + url.PathEscape(org) + "/token"
	if strings.EqualFold(org, systemOrg) {
		path = "/oauth/provider/token"
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in to %s: %w", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(b, &out)
	switch {
	case resp.StatusCode == http.StatusOK && out.AccessToken != "":
		return out.AccessToken, nil
	case out.Error != "":
		return "", fmt.Errorf("log in to %s with the API token: %s: %s (HTTP %d)", base, out.Error, out.Description, resp.StatusCode)
	}
	return "", fmt.Errorf("log in to %s with the API token: %w", base, vcdError(resp.StatusCode, b))
}

// whoami asks VCD whose session it is, for a token login that named nobody; "" when VCD
// does not say.
func whoami(ctx context.Context, hc *http.Client, s *session) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/cloudapi/1.0.0/sessions/current", nil)
	if err != nil {
		return ""
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", acceptLogin)
	resp, err := hc.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct {
		User struct {
			Name string `json:"name"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out) != nil {
		return ""
	}
	return out.User.Name
}

// logoutVCD ends the session at VCD; failures are ignored, the local session goes anyway.
func logoutVCD(ctx context.Context, hc *http.Client, s *session) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.URL+"/cloudapi/1.0.0/sessions/current", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", acceptLogin)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

// vcdError reads VCD's own JSON error ({"minorErrorCode", "message"}), or shows the body.
func vcdError(status int, body []byte) error {
	var e struct {
		Minor   string `json:"minorErrorCode"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return fmt.Errorf("%s (HTTP %d %s)", e.Message, status, e.Minor)
	}
	return parseAPIError(status, body)
}
