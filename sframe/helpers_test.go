package sframe

// supportedSuites lists the suites the public API accepts, by probing the
// whole code point space.
func supportedSuites() []Suite {
	var out []Suite
	for s := range 1 << 16 {
		if Suite(s).Supported() {
			out = append(out, Suite(s))
		}
	}
	return out
}
