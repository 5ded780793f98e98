package sframe

import (
	"fmt"
	"math/bits"
	"slices"
)

// MLSExporterLabel is the label of the MLS exporter call that yields an
// epoch's SFrame base_key (RFC 9605 §5.2). The caller runs
//
//	MLS-Exporter(MLSExporterLabel, "", suite.KeySize())
//
// (empty context, length AEAD.Nk of the SFrame suite: 48 bytes for the
// AES-CTR suites, 16 for AES_128_GCM_SHA256_128, 32 for AES_256_GCM_SHA512_128)
// once per epoch and passes the bytes to MLSKeys.AddEpoch.
const MLSExporterLabel = "SFrame 1.0 Base Key"

// Defaults for MLSConfig.
const (
	DefaultEpochBits = 4 // E, as in the example of RFC 9605 §5.2
	DefaultMLSEpochs = 3 // the current epoch and two before it
	// DefaultContextsPerSender bounds the contexts (KIDs) a receiver
	// keeps keys for per sender and epoch: a camera, a microphone and a
	// screen share each use one, so 16 leaves room while a member
	// inventing contexts cannot grow another's memory without bound.
	DefaultContextsPerSender = 16
	maxEpochBits             = 16
)

// MLSConfig configures MLSKeys. Its zero value works.
type MLSConfig struct {
	// EpochBits is E, the number of low epoch bits carried in each KID
	// (1..16, 0 means DefaultEpochBits).
	EpochBits int
	// Epochs is how many of the newest epochs are kept, so that frames sent
	// just before an epoch change still decrypt (1..2^E, 0 means
	// DefaultMLSEpochs).
	Epochs int
	// ContextsPerSender bounds how many contexts of one sender, in one
	// epoch, a receiver keeps keys for (0 means DefaultContextsPerSender);
	// frames of a further context fail with ErrUnknownKID.
	ContextsPerSender int
	// Receiver sets the replay window of every KID.
	Receiver Config
}

// MLSKeys derives SFrame keys from MLS epochs as RFC 9605 §5.2 lays them
// out. Each epoch has one base_key, the MLS exporter output; member i of
// epoch e sends under
//
//	KID = context << (S+E) | i << E | e mod 2^E
//
// where S is the fewest bits that hold every leaf index of the epoch, so each
// member (and each context of a member) has its own sframe_key and
// sframe_salt. MLSKeys keeps the newest epochs, derives a sender's receive
// key the first time one of its frames authenticates, and refuses frames
// that claim its own leaf index, since a key is never used both to encrypt
// and to decrypt. It must not be used by two goroutines at once.
type MLSKeys struct {
	suite  Suite
	params suiteParams
	self   uint32
	cfg    MLSConfig
	epochs []*mlsEpoch // oldest first
}

type mlsEpoch struct {
	epoch     uint64
	leaves    uint32 // leaf indices are < leaves
	indexBits uint   // S
	baseKey   []byte
	recv      *Receiver
	senders   map[uint64]bool // contexts this member already sends under
	contexts  map[uint64]int  // receive keys kept, by sender leaf index
}

// NewMLSKeys returns MLSKeys for the member at leaf index self, with no
// epochs yet.
func NewMLSKeys(suite Suite, self uint32, cfg MLSConfig) (*MLSKeys, error) {
	p, err := checkSuite(suite)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	return &MLSKeys{suite: suite, params: p, self: self, cfg: cfg}, nil
}

func (c MLSConfig) withDefaults() (MLSConfig, error) {
	if c.EpochBits == 0 {
		c.EpochBits = DefaultEpochBits
	}
	if c.EpochBits < 1 || c.EpochBits > maxEpochBits {
		return c, fmt.Errorf("sframe: epoch bits %d not in 1..%d: %w", c.EpochBits, maxEpochBits, ErrInvalidConfig)
	}
	if c.Epochs == 0 {
		c.Epochs = min(DefaultMLSEpochs, 1<<c.EpochBits)
	}
	if c.ContextsPerSender == 0 {
		c.ContextsPerSender = DefaultContextsPerSender
	}
	if c.ContextsPerSender < 1 {
		return c, fmt.Errorf("sframe: %d contexts per sender: %w", c.ContextsPerSender, ErrInvalidConfig)
	}
	if c.Epochs < 1 || c.Epochs > 1<<c.EpochBits {
		return c, fmt.Errorf("sframe: %d epochs not in 1..%d: %w", c.Epochs, 1<<c.EpochBits, ErrInvalidConfig)
	}
	if _, err := c.Receiver.window(); err != nil {
		return c, err
	}
	return c, nil
}

// AddEpoch makes epoch the newest one. exporterSecret is the epoch's
// MLS-Exporter(MLSExporterLabel, "", suite.KeySize()) output; leaves is the
// number of leaves in the epoch's ratchet tree (every member's leaf index
// is below it). Epochs must be added in increasing order. The epoch whose
// low E bits equal the new one's is dropped (RFC 9605 §5.2), as are epochs
// beyond MLSConfig.Epochs.
func (m *MLSKeys) AddEpoch(epoch uint64, leaves uint32, exporterSecret []byte) error {
	if n := len(m.epochs); n > 0 && epoch <= m.epochs[n-1].epoch {
		return fmt.Errorf("sframe: epoch %d after %d: %w", epoch, m.epochs[n-1].epoch, ErrEpoch)
	}
	if len(exporterSecret) != m.params.nk {
		return fmt.Errorf("sframe: exporter secret of %d bytes, want %d: %w", len(exporterSecret), m.params.nk, ErrInvalidKey)
	}
	if m.self >= leaves {
		return fmt.Errorf("sframe: own leaf %d not below %d leaves: %w", m.self, leaves, ErrInvalidConfig)
	}
	recv, err := newReceiver(m.suite, m.params, m.cfg.Receiver)
	if err != nil {
		return err
	}
	if old := m.find(epoch & m.epochMask()); old != nil {
		m.drop(old) // its KIDs now name the new epoch's keys
	}
	for len(m.epochs) >= m.cfg.Epochs {
		m.epochs = m.epochs[1:]
	}
	m.epochs = append(m.epochs, &mlsEpoch{
		epoch: epoch, leaves: leaves, indexBits: uint(bits.Len32(leaves - 1)),
		baseKey: append([]byte(nil), exporterSecret...), recv: recv, senders: map[uint64]bool{},
		contexts: map[uint64]int{},
	})
	return nil
}

// RemoveEpoch drops epoch, for example once the application knows no
// late frames of it remain, and reports whether it was held.
func (m *MLSKeys) RemoveEpoch(epoch uint64) bool {
	ep := m.find(epoch & m.epochMask())
	if ep == nil || ep.epoch != epoch {
		return false
	}
	m.drop(ep)
	return true
}

func (m *MLSKeys) drop(ep *mlsEpoch) {
	m.epochs = slices.DeleteFunc(m.epochs, func(e *mlsEpoch) bool { return e == ep })
}

// Epochs returns the epochs held, oldest first.
func (m *MLSKeys) Epochs() []uint64 {
	out := make([]uint64, len(m.epochs))
	for i, ep := range m.epochs {
		out[i] = ep.epoch
	}
	return out
}

func (m *MLSKeys) epochMask() uint64 { return 1<<m.cfg.EpochBits - 1 }

// find returns the held epoch with these low E bits, or nil.
func (m *MLSKeys) find(low uint64) *mlsEpoch {
	for _, ep := range m.epochs {
		if ep.epoch&m.epochMask() == low {
			return ep
		}
	}
	return nil
}

// KID returns the KID of leaf index in a held epoch with the given context.
func (m *MLSKeys) KID(epoch uint64, index uint32, context uint64) (uint64, error) {
	ep := m.find(epoch & m.epochMask())
	if ep == nil || ep.epoch != epoch {
		return 0, fmt.Errorf("sframe: epoch %d not held: %w", epoch, ErrEpoch)
	}
	return ep.kid(uint(m.cfg.EpochBits), index, context)
}

func (ep *mlsEpoch) kid(e uint, index uint32, context uint64) (uint64, error) {
	if index >= ep.leaves {
		return 0, fmt.Errorf("sframe: leaf %d not below %d leaves: %w", index, ep.leaves, ErrInvalidConfig)
	}
	shift := ep.indexBits + e
	if shift < 64 && context>>(64-shift) != 0 || shift == 64 && context != 0 {
		return 0, fmt.Errorf("sframe: context %d does not fit in %d bits: %w", context, 64-shift, ErrInvalidConfig)
	}
	low := ep.epoch & (1<<e - 1)
	return context<<shift | uint64(index)<<e | low, nil
}

// NewSender returns a Sender for this member in the newest epoch, under
// the given context (0 gives the shortest KID). Call it again after every
// AddEpoch. A second Sender for the same epoch and context would reuse
// nonces, so it is refused with ErrSenderExists.
func (m *MLSKeys) NewSender(context uint64) (*Sender, error) {
	if len(m.epochs) == 0 {
		return nil, fmt.Errorf("sframe: no epoch: %w", ErrEpoch)
	}
	ep := m.epochs[len(m.epochs)-1]
	kid, err := ep.kid(uint(m.cfg.EpochBits), m.self, context)
	if err != nil {
		return nil, err
	}
	if ep.senders[context] {
		return nil, fmt.Errorf("sframe: epoch %d context %d: %w", ep.epoch, context, ErrSenderExists)
	}
	snd, err := newSender(m.suite, m.params, kid, ep.baseKey)
	if err != nil {
		return nil, err
	}
	ep.senders[context] = true
	return snd, nil
}

// Decrypt decrypts a frame from another member of a held epoch, as
// Receiver.Decrypt does. Frames naming an epoch not held, a leaf index not
// in the epoch, or this member's own index fail with ErrUnknownKID. A
// sender's key is derived on its first frame and kept only if that frame
// authenticates, so forged frames change nothing.
func (m *MLSKeys) Decrypt(dst, metadata, frame []byte) ([]byte, error) {
	h, n, err := ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	ep, err := m.epochFor(h.KID)
	if err != nil {
		return nil, err
	}
	index := (h.KID >> m.cfg.EpochBits) & (1<<ep.indexBits - 1)
	k, fresh := ep.recv.lookup(h.KID), false
	if k == nil {
		if ep.contexts[index] >= m.cfg.ContextsPerSender {
			return nil, fmt.Errorf("sframe: kid %#x: leaf %d already has %d contexts in epoch %d: %w",
				h.KID, index, ep.contexts[index], ep.epoch, ErrUnknownKID)
		}
		if k, err = ep.recv.newKey(h.KID, ep.baseKey); err != nil {
			return nil, err
		}
		fresh = true
	}
	out, err := ep.recv.open(k, dst, metadata, frame, h, n)
	if err != nil {
		return nil, err
	}
	if fresh {
		ep.recv.keys[h.KID] = k
		ep.contexts[index]++
	}
	ep.recv.last = k
	return out, nil
}

// epochFor returns the epoch a KID belongs to, checking its leaf index.
func (m *MLSKeys) epochFor(kid uint64) (*mlsEpoch, error) {
	ep := m.find(kid & m.epochMask())
	if ep == nil {
		return nil, fmt.Errorf("sframe: kid %#x: no epoch with low bits %d: %w", kid, kid&m.epochMask(), ErrUnknownKID)
	}
	index := (kid >> m.cfg.EpochBits) & (1<<ep.indexBits - 1)
	if index >= uint64(ep.leaves) || index == uint64(m.self) {
		return nil, fmt.Errorf("sframe: kid %#x: leaf %d not a peer in epoch %d: %w", kid, index, ep.epoch, ErrUnknownKID)
	}
	return ep, nil
}
