package mls

import (
	"errors"
	"testing"
)

type transcriptCase struct {
	suiteField
	ConfirmationKey              hexBytes `json:"confirmation_key"`
	AuthenticatedContent         hexBytes `json:"authenticated_content"`
	InterimTranscriptHashBefore  hexBytes `json:"interim_transcript_hash_before"`
	ConfirmedTranscriptHashAfter hexBytes `json:"confirmed_transcript_hash_after"`
	InterimTranscriptHashAfter   hexBytes `json:"interim_transcript_hash_after"`
}

func TestTranscriptHashVectors(t *testing.T) {
	runVectors(t, "transcript-hashes.json", func(t *testing.T, s *suite, tc *transcriptCase) {
		ac, err := ParseAuthenticatedContent(tc.AuthenticatedContent)
		must(t, err)
		if ac.Content.ContentType != ContentCommit {
			t.Fatalf("content type %d, want commit", ac.Content.ContentType)
		}
		re, err := ac.Marshal()
		must(t, err)
		checkHex(t, "authenticated_content round trip", re, tc.AuthenticatedContent)

		confirmed, err := s.confirmedTranscriptHash(tc.InterimTranscriptHashBefore, ac)
		must(t, err)
		checkHex(t, "confirmed_transcript_hash_after", confirmed, tc.ConfirmedTranscriptHashAfter)
		if !s.verifyMAC(tc.ConfirmationKey, tc.ConfirmedTranscriptHashAfter, ac.Auth.ConfirmationTag) {
			t.Error("confirmation_tag does not verify")
		}
		interim := s.interimTranscriptHash(confirmed, ac.Auth.ConfirmationTag)
		checkHex(t, "interim_transcript_hash_after", interim, tc.InterimTranscriptHashAfter)
	})
}

func TestTranscriptRejectsNonCommit(t *testing.T) {
	s, _ := DefaultCipherSuite.suite()
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: FramedContent{ContentType: ContentApplication}}
	if _, err := s.confirmedTranscriptHash(nil, ac); !errors.Is(err, ErrInvalidContent) {
		t.Fatalf("got %v, want ErrInvalidContent", err)
	}
}

func TestAuthenticatedContentRejects(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
	}{
		{"wire format welcome", []byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"sender type 5", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 0}},
		{"content type 4", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0}},
		{"truncated", []byte{0, 1, 0}},
	}
	for _, tt := range tests {
		if _, err := ParseAuthenticatedContent(tt.wire); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", tt.name, err)
		}
	}
}
