package dpop

import (
	"net/url"
	"strings"
)

// maxURLLen bounds htu and the URL it is compared with.
const maxURLLen = 4096

// NormalizeURL returns the form in which htu and the request URL are
// compared (RFC 9449 §4.3, RFC 3986 §6.2.2 and §6.2.3): the scheme and host
// in lower case, the port left out when it is the scheme's default, an
// empty path as "/", percent-escapes in upper case, and no query, fragment
// or user information. It reports false for anything but an absolute http
// or https URL with a host, or one longer than 4096 bytes.
func NormalizeURL(s string) (string, bool) {
	if len(s) > maxURLLen {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
