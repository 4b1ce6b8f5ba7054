package mml_test

import (
	"errors"
	"fmt"
	"log"

	mml "github.com/mml-project/mml/bindings/go"
)

// PyTorch's documentation example: scores for 4 classes, the right class is 3.
func Example() {
	loss, err := mml.New(mml.DefaultOptions()) // p 1, margin 1, no weights, mean
	if err != nil {
		log.Fatal(err)
	}
	defer loss.Close()

	input := []float32{0.1, 0.2, 0.4, 0.8} // n = 1 sample, c = 4 classes
	target := []int64{3}
	out, grad, err := loss.ForwardBackward(input, target, 4, []float32{1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("loss %.4f\n", out[0])
	fmt.Println("grad", grad)

	_, err = loss.Forward(input, []int64{7}, 4)
	fmt.Println(err)
	fmt.Println(errors.Is(err, mml.ErrTargetOutOfRange))
	// Output:
	// loss 0.3250
	// grad [0.25 0.25 0.25 -0.75]
	// mml: Forward: target[0] = 7 is outside [0, 4)
	// true
}

func ExampleLoss_ForwardInto() {
	loss, err := mml.New(mml.Options{P: 2, Margin: 1, Reduction: mml.ReductionNone})
	if err != nil {
		log.Fatal(err)
	}
	defer loss.Close()

	input := []float32{ // 2 samples, 3 classes
		0.9, 0.1, 0.3,
		0.2, 0.2, 1.5,
	}
	target := []int64{0, 1}
	out := make([]float32, loss.OutputLen(len(target)))
	if err := loss.ForwardInto(input, target, 3, out); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.4f %.4f\n", out[0], out[1])

	err = loss.ForwardInto(input, target, 3, make([]float32, 1))
	fmt.Println(err)
	// Output:
	// 0.0667 2.0967
	// mml: ForwardInto: output has 1 elements, expected 2
}

// Half-precision scores and int32 targets through the generic functions: the loss is float32,
// the gradient bfloat16 (the float32 gradient rounded to nearest even, as PyTorch's autocast
// returns it). The scores round to 0.10009766, 0.20019531, 0.40039062 and 0.80078125: the
// loss is (3·(1 − 0.80078125) + 0.10009766 + 0.20019531 + 0.40039062) / 4.
func ExampleForwardBackward() {
	loss, err := mml.New(mml.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	defer loss.Close()

	var scores []mml.BFloat16
	for _, x := range []float32{0.1, 0.2, 0.4, 0.8} {
		scores = append(scores, mml.BFloat16FromFloat32(x))
	}
	out, grad, err := mml.ForwardBackward(loss, scores, []int32{3}, 4, []float32{1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.4f %v\n", out[0], grad[3].Float32())
	// Output:
	// 0.3246 -0.75
}
