<?php

declare(strict_types=1);

namespace Coyote\RPC;

/**
 * The `app` RPC service: write into the server's log at a level
 * (`log()` writes the raw text to the server's stderr). Messages with
 * structured context use `app.<Level>WithContext` (protobuf) and are not
 * wrapped here yet.
 */
final class AppLogger
{
    public function __construct(private RPC $rpc)
    {
    }

    public function error(string $message): void
    {
        $this->rpc->call('app.Error', $message);
    }

    public function warning(string $message): void
    {
        $this->rpc->call('app.Warning', $message);
    }

    public function info(string $message): void
    {
        $this->rpc->call('app.Info', $message);
    }

    public function debug(string $message): void
    {
        $this->rpc->call('app.Debug', $message);
    }

    public function log(string $message): void
    {
        $this->rpc->call('app.Log', $message);
    }
}
