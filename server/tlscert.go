package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is the lifetime of a self-signed certificate; an expired one
// is replaced at the next start.
const certValidity = 398 * 24 * time.Hour

// servingCert is the serving certificate and its PEM.
type servingCert struct {
	cert tls.Certificate
	pem  []byte
}

// loadGivenCert reads the configured certificate files, if any; nil means
// the self-signed pair (loadSelfSigned). It writes nothing.
func loadGivenCert(cfg Config) (*servingCert, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	return readCert(cfg.TLSCertFile, cfg.TLSKeyFile)
}

// loadSelfSigned returns the self-signed pair in <DataDir>/tls, created on
// first use.
func loadSelfSigned(cfg Config) (*servingCert, error) {
	certFile, keyFile := dataPath(cfg, "tls", "cert.pem"), dataPath(cfg, "tls", "key.pem")
	if err := ensureSelfSigned(certFile, keyFile, cfg.Now(), cfg.Rand); err != nil {
		return nil, err
	}
	return readCert(certFile, keyFile)
}

// readCert reads a PEM certificate and key pair.
func readCert(certFile, keyFile string) (*servingCert, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("server: read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("server: read TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server: TLS key pair: %w", err)
	}
	return &servingCert{cert: cert, pem: certPEM}, nil
}

// ensureSelfSigned keeps a valid self-signed pair at certFile and keyFile.
func ensureSelfSigned(certFile, keyFile string, now time.Time, rand io.Reader) error {
	if valid, err := selfSignedValid(certFile, now); err != nil || valid {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("server: create TLS dir: %w", err)
	}
	certDER, keyDER, err := selfSigned(now, rand)
	if err != nil {
		return err
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(certFile, "CERTIFICATE", certDER, 0o644)
}

// selfSignedValid reports whether certFile exists and is not near expiry.
func selfSignedValid(certFile string, now time.Time) (bool, error) {
	b, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("server: read TLS certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return false, errors.New("server: TLS certificate file is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, fmt.Errorf("server: parse TLS certificate: %w", err)
	}
	return now.Add(24 * time.Hour).Before(c.NotAfter), nil
}

// selfSigned makes an ECDSA P-256 certificate for the loopback names.
func selfSigned(now time.Time, rand io.Reader) (certDER, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS key: %w", err)
	}
	serial, err := randSerial(rand)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sealine self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	certDER, err = x509.CreateCertificate(rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS certificate: %w", err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: TLS key: %w", err)
	}
	return certDER, keyDER, nil
}

func randSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("server: certificate serial: %w", err)
	}
	return new(big.Int).SetBytes(b), nil
}

// writePEM writes one PEM block atomically (temp file, then rename).
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("server: write %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name())
	err = errors.Join(tmp.Chmod(mode), pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("server: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// fingerprint is the SHA-256 of the certificate's DER, in hex.
func fingerprint(cert tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return "sha256:" + hex.EncodeToString(sum[:])
}
