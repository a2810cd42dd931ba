package config

import (
	"fmt"
	"strconv"
	"strings"
)

// TOML returns the configuration as a TOML document with every key, each
// with a one-line comment, in the databend-meta format: what --cmd
// show-config prints. Loading it back gives the same Config, for any
// Config that passes Validate.
func (c *Config) TOML() string {
	var b strings.Builder
	b.WriteString("# metasrv (databend-meta) configuration\n")
	table := ""
	for _, d := range keyDefs {
		t, name := splitKey(d.name)
		if t != table {
			b.WriteString("\n[" + t + "]\n")
			table = t
		}
		fmt.Fprintf(&b, "\n# %s\n%s = %s\n", d.usage, name, formatValue(d.field(c)))
	}
	// [auth] is the last table, so its [[auth.users]] can follow.
	b.WriteString(c.usersTOML())
	return b.String()
}

// formatValue formats a Config field, given by pointer, as a TOML value.
func formatValue(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return quote(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *uint32:
		return strconv.FormatUint(uint64(*p), 10)
	case *uint64:
		return strconv.FormatUint(*p, 10)
	case *[]string:
		q := make([]string, len(*p))
		for i, s := range *p {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	panic(fmt.Sprintf("config: cannot format %T", ptr))
}

// quote returns s as a TOML basic string. s must be valid UTF-8.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
