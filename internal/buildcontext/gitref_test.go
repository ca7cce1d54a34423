package buildcontext

import "testing"

func TestValidateGitFragment(t *testing.T) {
	for _, ok := range [][2]string{{"", ""}, {"master", ""}, {"v1.0", "app"}, {"refs/pull/1/head", "a/b"},
		{"0123456789abcdef0123456789abcdef01234567", ""}, {"feature/x-y_z", "dir with space"}} {
		if err := ValidateGitFragment(ok[0], ok[1]); err != nil {
			t.Errorf("%q:%q refused: %v", ok[0], ok[1], err)
		}
	}
	for _, bad := range [][2]string{{"--pathspec-from-file=/etc/shadow", ""}, {"-q", ""}, {"a..b", ""}, {"v1~1", ""},
		{"a b", ""}, {"a\nb", ""}, {"x.lock", ""}, {"/abs", ""}, {"dir/", ""}, {"a@{1}", ""}, {"m", "-x"}, {"m", "a\x00b"}} {
		if err := ValidateGitFragment(bad[0], bad[1]); err == nil {
			t.Errorf("%q:%q accepted", bad[0], bad[1])
		}
	}
}
