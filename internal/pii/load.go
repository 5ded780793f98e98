package pii

// LoadKEK reads the KEK at path like LoadOrCreateKEK, but never creates
// one: operator tools must not invent a key for a server's data.
func LoadKEK(path string) (*Keyring, error) {
	kek, err := readKEK(path)
	if err != nil {
		return nil, err
	}
	return NewKeyring(kek)
}
