<?php

declare(strict_types=1);

namespace Coyote\RPC;

use Coyote\Proto\AppLogger\LogAttrs;
use Coyote\Proto\AppLogger\LogEntry;
use Coyote\Proto\AppLogger\Response;

/**
 * The `app` RPC service: write into the server's log at a level (`log()`
 * writes the raw text to the server's stderr). A message with context
 * goes as `app.<Level>WithContext` (applogger.v1.LogEntry, protobuf);
 * context values that are not strings are JSON-encoded.
 */
final class AppLogger
{
    public function __construct(private RPC $rpc)
    {
    }

    /** @param array<string, mixed> $context */
    public function error(string $message, array $context = []): void
    {
        $this->send('Error', $message, $context);
    }

    /** @param array<string, mixed> $context */
    public function warning(string $message, array $context = []): void
    {
        $this->send('Warning', $message, $context);
    }

    /** @param array<string, mixed> $context */
    public function info(string $message, array $context = []): void
    {
        $this->send('Info', $message, $context);
    }

    /** @param array<string, mixed> $context */
    public function debug(string $message, array $context = []): void
    {
        $this->send('Debug', $message, $context);
    }

    /** @param array<string, mixed> $context */
    public function log(string $message, array $context = []): void
    {
        $this->send('Log', $message, $context);
    }

    /** @param array<string, mixed> $context */
    private function send(string $level, string $message, array $context): void
    {
        if ($context === []) {
            $this->rpc->call("app.$level", $message);
            return;
        }
        $attrs = [];
        foreach ($context as $key => $value) {
            $attrs[] = new LogAttrs([
                'key' => (string) $key,
                'value' => \is_string($value) ? $value : json_encode($value, \JSON_THROW_ON_ERROR),
            ]);
        }
        $entry = new LogEntry(['message' => $message, 'log_attrs' => $attrs]);
        $this->rpc->callProto("app.{$level}WithContext", $entry, new Response());
    }
}
