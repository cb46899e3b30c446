package detect

// scannerAgents are User-Agent fragments of SIP scanning tools, lower case.
// No phone, gateway or PBX sends them.
var scannerAgents = []string{
	"friendly-scanner",
	"sipvicious",
	"sipcli",
	"vaxsipuseragent",
	"pplsip",
	"sundayddr",
	"sip-scan",
	"sipscan",
	"iwar",
	"smap",
	"sivus",
	"voiper",
	"siparmyknife",
	"nmap",
	"masscan",
}

// ScannerAgent reports whether ua is the User-Agent of a known SIP scanner, and
// which one. Case is ignored.
func ScannerAgent(ua string) (name string, ok bool) {
	for _, s := range scannerAgents {
		if containsFold(ua, s) {
			return s, true
		}
	}
	return "", false
}

// containsFold reports whether s contains lower-case sub, ignoring ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
