package sframe_test

import (
	"fmt"

	"github.com/sealine/sealine/sframe"
)

func Example() {
	baseKey := []byte("a 16+ byte secret shared out of band")
	snd, _ := sframe.NewSender(sframe.AES_128_GCM_SHA256_128, 7, baseKey)
	rcv, _ := sframe.NewReceiver(sframe.AES_128_GCM_SHA256_128, sframe.Config{})
	_ = rcv.AddKey(7, baseKey)

	buf := make([]byte, 0, 1500) // reused for every frame: no allocation
	frame, _ := snd.Encrypt(buf, nil, []byte("opus packet"))
	pt, err := rcv.Decrypt(nil, nil, frame)
	fmt.Printf("%q %v\n", pt, err)
	_, err = rcv.Decrypt(nil, nil, frame)
	fmt.Println(err)
	// Output:
	// "opus packet" <nil>
	// sframe: kid 7: ctr 0: replayed counter
}

func ExampleMLSKeys() {
	suite := sframe.AES_128_GCM_SHA256_128
	// In a real client: group.Export(sframe.MLSExporterLabel, nil, suite.KeySize()).
	secret := make([]byte, suite.KeySize())

	alice, _ := sframe.NewMLSKeys(suite, 0, sframe.MLSConfig{})
	bob, _ := sframe.NewMLSKeys(suite, 1, sframe.MLSConfig{})
	_ = alice.AddEpoch(5, 2, secret)
	_ = bob.AddEpoch(5, 2, secret)

	snd, _ := alice.NewSender(0)
	frame, _ := snd.Encrypt(nil, nil, []byte("hello"))
	pt, err := bob.Decrypt(nil, nil, frame)
	fmt.Printf("kid %#x: %s %v\n", snd.KID(), pt, err)
	// Output:
	// kid 0x5: hello <nil>
}
