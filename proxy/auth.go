package proxy

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"hash"
	"strconv"
	"strings"

	"moonbus/config"
	"moonbus/proxy/sample"
)

// Userlist passwords and the http_auth fetches. "insecure-password" compares
// the clear text; "password" takes a crypt(3) hash: SHA-256 ($5$) and
// SHA-512 ($6$) are implemented here (Ulrich Drepper's published algorithm).

// checkPassword verifies a clear-text password against a userlist entry.
func checkPassword(u *config.User, pass string) bool {
	if u.Insecure {
		return subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) == 1
	}
	got, ok := shaCrypt(pass, u.Password)
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(u.Password)) == 1
}

// shaCrypt computes the crypt(3) hash of pass with the method, rounds and
// salt of setting ("$6$[rounds=N$]salt[$hash]").
func shaCrypt(pass, setting string) (string, bool) {
	var newH func() hash.Hash
	var perm [][3]int
	var tail []int
	var id string
	switch {
	case strings.HasPrefix(setting, "$5$"):
		newH, id = sha256.New, "$5$"
		perm = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
		tail = []int{-1, 31, 30} // 3 chars from (0, b31, b30)
	case strings.HasPrefix(setting, "$6$"):
		newH, id = sha512.New, "$6$"
		perm = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48}, {28, 49, 7},
			{50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57},
			{37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
		tail = []int{-1, -1, 63} // 2 chars from (0, 0, b63)
	default:
		return "", false
	}
	rest := setting[3:]
	rounds := 5000
	customRounds := false
	if strings.HasPrefix(rest, "rounds=") {
		end := strings.IndexByte(rest, '$')
		if end < 0 {
			return "", false
		}
		n, err := strconv.Atoi(rest[7:end])
		if err != nil {
			return "", false
		}
		rounds, customRounds = min(max(n, 1000), 999999999), true
		rest = rest[end+1:]
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > 16 {
		salt = salt[:16]
	}
	P, S := []byte(pass), []byte(salt)
	h := newH()
	size := h.Size()
	h.Write(P)
	h.Write(S)
	h.Write(P)
	B := h.Sum(nil)
	h.Reset()
	h.Write(P)
	h.Write(S)
	i := len(P)
	for ; i > size; i -= size {
		h.Write(B)
	}
	h.Write(B[:i])
	for i = len(P); i > 0; i >>= 1 {
		if i&1 != 0 {
			h.Write(B)
		} else {
			h.Write(P)
		}
	}
	A := h.Sum(nil)
	h.Reset()
	for i := 0; i < len(P); i++ {
		h.Write(P)
	}
	DP := h.Sum(nil)
	Pp := make([]byte, 0, len(P))
	for len(Pp)+size <= len(P) {
		Pp = append(Pp, DP...)
	}
	Pp = append(Pp, DP[:len(P)-len(Pp)]...)
	h.Reset()
	for i := 0; i < 16+int(A[0]); i++ {
		h.Write(S)
	}
	DS := h.Sum(nil)
	Sp := make([]byte, 0, len(S))
	for len(Sp)+size <= len(S) {
		Sp = append(Sp, DS...)
	}
	Sp = append(Sp, DS[:len(S)-len(Sp)]...)
	C := A
	for r := 0; r < rounds; r++ {
		h.Reset()
		if r&1 != 0 {
			h.Write(Pp)
		} else {
			h.Write(C)
		}
		if r%3 != 0 {
			h.Write(Sp)
		}
		if r%7 != 0 {
			h.Write(Pp)
		}
		if r&1 != 0 {
			h.Write(C)
		} else {
			h.Write(Pp)
		}
		C = h.Sum(nil)
	}
	const itoa = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var out strings.Builder
	out.WriteString(id)
	if customRounds {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for ; n > 0; n-- {
			out.WriteByte(itoa[w&0x3f])
			w >>= 6
		}
	}
	for _, p := range perm {
		enc(C[p[0]], C[p[1]], C[p[2]], 4)
	}
	get := func(i int) byte {
		if i < 0 {
			return 0
		}
		return C[i]
	}
	if id == "$5$" {
		enc(get(tail[0]), get(tail[1]), get(tail[2]), 3)
	} else {
		enc(get(tail[0]), get(tail[1]), get(tail[2]), 2)
	}
	return out.String(), true
}

// registerAuthFetches adds http_auth(<userlist>) and
// http_auth_group(<userlist>) to the registry.
func registerAuthFetches(reg *sample.Registry) {
	check := func(t *Txn, ul string, groups []string) bool {
		h, ok := t.req.Header("authorization")
		if !ok {
			return false
		}
		user, pass, ok := basicAuth(h)
		if !ok {
			return false
		}
		for _, l := range t.s.e.conf.Userlists {
			if l.Name == ul {
				return checkUserlist(l, user, pass, groups)
			}
		}
		return false
	}
	reg.RegisterFetch("http_auth", sample.FetchDef{Args: []sample.ArgKind{sample.ArgStr}, MinArgs: 1, Out: sample.Bool, Use: sample.UseReq,
		Fn: func(s sample.Stream, a []sample.Arg, out *sample.Sample) bool {
			t, ok := s.(*Txn)
			if !ok {
				return false
			}
			out.SetBool(check(t, a[0].Str, nil))
			return true
		}})
	reg.RegisterFetch("http_auth_group", sample.FetchDef{Args: []sample.ArgKind{sample.ArgStr}, MinArgs: 1, Out: sample.Str, Use: sample.UseReq,
		Fn: func(s sample.Stream, a []sample.Arg, out *sample.Sample) bool {
			t, ok := s.(*Txn)
			if !ok {
				return false
			}
			h, ok := t.req.Header("authorization")
			if !ok {
				return false
			}
			user, pass, ok := basicAuth(h)
			if !ok {
				return false
			}
			for _, l := range t.s.e.conf.Userlists {
				if l.Name != a[0].Str {
					continue
				}
				for _, u := range l.Users {
					if u.Name == user && checkPassword(u, pass) && len(u.Groups) > 0 {
						out.SetStr([]byte(u.Groups[0]))
						return true
					}
				}
			}
			return false
		}})
}
