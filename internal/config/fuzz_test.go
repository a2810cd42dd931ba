package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzLoadTOML decodes arbitrary config files. Decoding must never panic;
// an error must be one line wrapping a sentinel; a config that decodes and
// validates must survive TOML() and decode again unchanged.
func FuzzLoadTOML(f *testing.F) {
	for _, name := range []string{"metasrv-1.toml", "metasrv-2.toml", "metasrv-3.toml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	def := Default()
	f.Add(def.TOML())
	f.Add(fileForFlags)
	for _, s := range []string{
		"",
		"log_dir = \"x\"\n[raft_config]\nid = = 1\n",
		"[raft_config]\nraft_api_prot = 1\n",
		"[raft_config]\nid = -1\nraft_api_port = 4294967296\n",
		"[raft_config]\njoin = [1, \"a:1\", {x = 1}]\n",
		"raft_config = 1\n",
		"[[raft_config]]\nid = 1\n",
		"raft_config.id = 3\nraft_config.single = true\n",
		"log_dir.x = 1\n",
		"\"raft_config.id\" = 5\n",
		"LOG_DIR = \"x\"\n[Raft_Config]\nID = 2\n",
		"log_dir = \"\\u0000\\\\\\\"\\t\"\nlog_level = 'debug'\n",
		"log_dir = \"\"\"\nmulti\nline\"\"\"\n",
		"grpc_api_max_message_size = 1979-05-27T07:32:00Z\n",
		"[raft_config]\nheartbeat_interval = 0x10\nsnapshot_logs_since_last = 1_000\n",
		"[raft_config]\nid = 9223372036854775807\n",
		"[raft_config]\nid = 9223372036854775808\n",
		"[raft_config]\nid = 0xffff_ffff_ffff_fffd\njoin = [18446744073709551616]\n",
		"grpc_api_max_message_size = -9223372036854775809\n[auth]\nusers = [{name = 99999999999999999999}]\n",
		"[log.file]\non = false\nlevel = \"debug\"\nlimit = 0\nmax_size = 4096\n[log.stderr]\non = true\nformat = \"JSON\"\n",
		"log.file.dir = \"d\"\nlog.stderr = 1\n",
		"[log]\nfile = {on = true, prefix_filter = \"x\"}\n",
		"[[log.file]]\non = true\n",
		securityFile,
		"[auth]\nusers = [{name = \"a\", password_hash = 1}, 2]\n",
		"[[auth.users]]\nname = \"a\"\n[[auth.users]]\npassword_hash = \"\"\nextra = 1\n",
		"auth.users = \"x\"\n",
	} {
		f.Add(s)
	}
	sentinels := []error{ErrSyntax, ErrUnknownKey, ErrType}

	f.Fuzz(func(t *testing.T, data string) {
		c := Default()
		_, err := decodeTOML(&c, []byte(data), "fuzz.toml")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error has more than one line: %q", err)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		c.normalize()
		if c.Validate() != nil {
			return
		}
		text := c.TOML()
		again := Default()
		if _, err := decodeTOML(&again, []byte(text), "show-config"); err != nil {
			t.Fatalf("TOML() does not decode: %v\n%s", err, text)
		}
		again.normalize()
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s\nTOML:\n%s", diff, text)
		}
	})
}
