// Command berth is the Berth command line client, a Docker Engine API client
// compatible with docker CLI 28 for the commands it implements.
package main

import (
	"context"
	"os"

	"github.com/berth-project/berth/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
