// Package mailerstest holds test helpers shared by the alert senders: the
// native mailer (package mailers) and the webhook notifier (package handlers).
package mailerstest

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// AssertNoSecretLeak fails the test if any secret, in clear, URL-escaped or
// base64 form, appears in any of the texts (captured log output, error
// strings, `show alerts` output...). Every sender's tests call it after
// making the sender fail in the ways that produce errors and log lines.
func AssertNoSecretLeak(t testing.TB, secrets []string, texts ...string) {
	t.Helper()
	if len(texts) == 0 {
		t.Fatal("AssertNoSecretLeak: nothing to check")
	}
	checked := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms := []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s))}
		for i, text := range texts {
			checked += len(text)
			for _, f := range forms {
				if strings.Contains(text, f) {
					t.Errorf("secret %q leaked (as %q) in text #%d:\n%s", s, f, i, text)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("AssertNoSecretLeak: every text was empty; the check would prove nothing")
	}
}
