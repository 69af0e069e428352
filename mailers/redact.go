package mailers

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Redacted replaces a secret in texts that leave a sender.
const Redacted = "<redacted>"

// MinSecretLen is the shortest secret a Redactor hides: replacing every "a"
// of a log line because a password is "a" would make logs useless without
// protecting anything.
const MinSecretLen = 3

// Redactor hides secrets in strings. A nil *Redactor returns strings as they are.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor returns a Redactor for the given secrets. Besides each secret as
// written, it hides the forms in which a secret commonly shows up in error
// texts: URL query escaping and standard base64 (SMTP AUTH exchanges).
func NewRedactor(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var all []string
	add := func(s string) {
		if len(s) >= MinSecretLen && !seen[s] {
			seen[s] = true
			all = append(all, s)
		}
	}
	for _, s := range secrets {
		add(s)
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		add(base64.StdEncoding.EncodeToString([]byte(s)))
		add(base64.RawStdEncoding.EncodeToString([]byte(s)))
	}
	if len(all) == 0 {
		return &Redactor{}
	}
	// Longest first, so that a secret containing another one is hidden whole.
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced by Redacted.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error returns the redacted text of err ("" for nil).
func (r *Redactor) Error(err error) string {
	if err == nil {
		return ""
	}
	return r.String(err.Error())
}

// RedactURL returns u with its password and query values replaced, for logs
// and errors ("https://user:<redacted>@h/p?token=<redacted>").
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if _, has := c.User.Password(); has {
		c.User = url.UserPassword(c.User.Username(), "redacted")
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{"redacted"}
		}
		c.RawQuery = q.Encode()
	}
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// URLSecrets returns the parts of a URL that are secrets: the password and
// every query value.
func URLSecrets(u *url.URL) []string {
	if u == nil {
		return nil
	}
	var s []string
	if p, has := u.User.Password(); has {
		s = append(s, p)
	}
	for _, vs := range u.Query() {
		s = append(s, vs...)
	}
	return s
}
