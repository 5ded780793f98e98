package mls

import (
	"fmt"
)

// PSKType says how a pre-shared key was provisioned (RFC 9420, Section 8.4).
type PSKType uint8

// PSK types.
const (
	PSKExternal   PSKType = 1
	PSKResumption PSKType = 2
)

// ResumptionPSKUsage says why a resumption PSK is injected.
type ResumptionPSKUsage uint8

// Resumption PSK usages.
const (
	ResumptionApplication ResumptionPSKUsage = 1
	ResumptionReInit      ResumptionPSKUsage = 2
	ResumptionBranch      ResumptionPSKUsage = 3
)

// PreSharedKeyID names a PSK injected into the key schedule. The nonce,
// fresh for each injection, makes every use of a PSK derive different
// keys.
type PreSharedKeyID struct {
	Type    PSKType
	ID      []byte             // PSKExternal: psk_id
	Usage   ResumptionPSKUsage // PSKResumption
	GroupID []byte             // PSKResumption: psk_group_id
	Epoch   uint64             // PSKResumption: psk_epoch
	Nonce   []byte
}

func (p *PreSharedKeyID) encode(w *writer) {
	w.Uint8(uint8(p.Type))
	switch p.Type {
	case PSKExternal:
		w.Opaque(p.ID)
	case PSKResumption:
		w.Uint8(uint8(p.Usage))
		w.Opaque(p.GroupID)
		w.Uint64(p.Epoch)
	default:
		w.fail(fmt.Errorf("%w: psk type %d", ErrMalformed, p.Type))
	}
	w.Opaque(p.Nonce)
}

func decodePreSharedKeyID(r *reader) PreSharedKeyID {
	p := PreSharedKeyID{Type: PSKType(r.Uint8())}
	switch p.Type {
	case PSKExternal:
		p.ID = r.Opaque()
	case PSKResumption:
		p.Usage = ResumptionPSKUsage(r.Uint8())
		p.GroupID = r.Opaque()
		p.Epoch = r.Uint64()
		if p.Usage < ResumptionApplication || p.Usage > ResumptionBranch {
			r.fail(fmt.Errorf("%w: resumption usage %d", ErrMalformed, p.Usage))
		}
	default:
		r.fail(fmt.Errorf("%w: psk type %d", ErrMalformed, p.Type))
	}
	p.Nonce = r.Opaque()
	return p
}

// pskSecret chains the PSKs into psk_secret (RFC 9420, Section 8.4).
// ids and psks are parallel; no PSKs gives the zero vector.
func (s *suite) pskSecret(ids []PreSharedKeyID, psks []secret) (secret, error) {
	if len(ids) != len(psks) || len(ids) > 0xffff {
		return nil, fmt.Errorf("%w: %d psk ids for %d psks", ErrInvalidProposal, len(ids), len(psks))
	}
	acc := zeroSecret(s)
	for i := range ids {
		input, err := s.pskInput(&ids[i], psks[i], uint16(i), uint16(len(ids)))
		if err != nil {
			return nil, fmt.Errorf("psk %d: %w", i, err)
		}
		if acc, err = s.extract(input, acc); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

// pskInput is ExpandWithLabel(Extract(0, psk), "derived psk", PSKLabel, Nh).
func (s *suite) pskInput(id *PreSharedKeyID, psk secret, index, count uint16) (secret, error) {
	extracted, err := s.extract(nil, psk)
	if err != nil {
		return nil, err
	}
	var w writer
	id.encode(&w)
	w.Uint16(index)
	w.Uint16(count)
	label, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	out, err := s.expandWithLabel(extracted, "derived psk", label, uint16(s.hashLen()))
	return secret(out), err
}
