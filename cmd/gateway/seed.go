package main

import (
	"context"
	"errors"
	"io"

	"github.com/wagateway/gateway/internal/config"
)

func seed(_ context.Context, _ *config.Config, _ io.Writer) error {
	return errors.New("seed: not available yet")
}
