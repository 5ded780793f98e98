package mls

import (
	"errors"
	"testing"
)

type pskSecretCase struct {
	suiteField
	PSKs []struct {
		PSKID    hexBytes `json:"psk_id"`
		PSK      hexBytes `json:"psk"`
		PSKNonce hexBytes `json:"psk_nonce"`
	} `json:"psks"`
	PSKSecret hexBytes `json:"psk_secret"`
}

func TestPSKSecretVectors(t *testing.T) {
	runVectors(t, "psk_secret.json", func(t *testing.T, s *suite, tc *pskSecretCase) {
		var ids []PreSharedKeyID
		var psks []secret
		for _, p := range tc.PSKs {
			ids = append(ids, PreSharedKeyID{Type: PSKExternal, ID: p.PSKID, Nonce: p.PSKNonce})
			psks = append(psks, secret(p.PSK))
		}
		got, err := s.pskSecret(ids, psks)
		must(t, err)
		checkHex(t, "psk_secret", got, tc.PSKSecret)
	})
}

func TestPreSharedKeyIDCodec(t *testing.T) {
	tests := []PreSharedKeyID{
		{Type: PSKExternal, ID: []byte("ext"), Nonce: []byte{1}},
		{Type: PSKResumption, Usage: ResumptionReInit, GroupID: []byte("g"), Epoch: 9, Nonce: []byte{2}},
	}
	for _, id := range tests {
		b, err := marshal(&id)
		must(t, err)
		var got PreSharedKeyID
		must(t, unmarshal(b, func(r *reader) { got = decodePreSharedKeyID(r) }))
		b2, _ := marshal(&got)
		checkHex(t, "round trip", b2, b)
	}
	for _, bad := range [][]byte{{3, 0, 0}, {2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		err := unmarshal(bad, func(r *reader) { decodePreSharedKeyID(r) })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: got %v, want ErrMalformed", bad, err)
		}
	}
}
