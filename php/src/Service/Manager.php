<?php

declare(strict_types=1);

namespace Coyote\Service;

use Coyote\Goridge\Frame;
use Coyote\RPC\RPC;

/**
 * The `service` RPC service, called as roadrunner-php/services calls it
 * (protobuf `service.v1`, the same method names and arguments; the class
 * keeps that client's name so code moves over unchanged).
 *
 * Unlike roadrunner-php/services, bad arguments raise
 * InvalidArgumentException (not an assert, which production PHP skips),
 * and status() (RoadRunner's deprecated single status) is offered too.
 *
 * The RPC must have no service prefix (method names are sent in full).
 */
final class Manager
{
    public function __construct(private readonly RPC $rpc)
    {
    }

    /** A client for `$address`, or RR_RPC from the environment. */
    public static function connect(?string $address = null): self
    {
        return new self(RPC::create($address));
    }

    /**
     * The services' names (configured and created), sorted.
     *
     * @return list<string>
     */
    public function list(): array
    {
        return Wire::names($this->call('service.List', Wire::service('')));
    }

    /**
     * Starts a new service; true once every process runs. A command that
     * cannot start, or a name in use, raises ServiceException.
     *
     * @param non-empty-string $name
     * @param non-empty-string $command split on spaces, no shell, no quoting
     * @param int $execTimeout seconds a run may last (0: no limit)
     * @param array<non-empty-string, string> $env extra environment (names upper-cased)
     * @param int $restartSec seconds before a restart (remain_after_exit)
     * @param int $stopTimeout seconds between SIGINT and SIGKILL
     */
    public function create(
        string $name,
        string $command,
        int $processNum = 1,
        int $execTimeout = 0,
        bool $remainAfterExit = false,
        array $env = [],
        int $restartSec = 30,
        bool $serviceNameInLogs = false,
        int $stopTimeout = 5,
    ): bool {
        if ($processNum < 1) {
            throw new \InvalidArgumentException("processNum must be at least 1, got $processNum");
        }
        foreach (['execTimeout' => $execTimeout, 'restartSec' => $restartSec, 'stopTimeout' => $stopTimeout] as $what => $value) {
            if ($value < 0) {
                throw new \InvalidArgumentException("$what must not be negative, got $value");
            }
        }
        $body = Wire::create(
            $name,
            $command,
            $processNum,
            $execTimeout,
            $remainAfterExit,
            $env,
            $restartSec,
            $serviceNameInLogs,
            $stopTimeout,
        );
        return Wire::ok($this->call('service.Create', $body));
    }

    /** Stops every process of `$name` and starts them again. */
    public function restart(string $name): bool
    {
        return Wire::ok($this->call('service.Restart', Wire::service($name)));
    }

    /** Stops every process of `$name` (SIGINT, SIGKILL after the stop timeout) and forgets it. */
    public function terminate(string $name): bool
    {
        return Wire::ok($this->call('service.Terminate', Wire::service($name)));
    }

    /**
     * One entry per process: `cpu_percent`, `pid`, `memory_usage` (bytes),
     * `command`, and `error` (null while it runs; else `code`, `message`
     * saying why it is not running, `details`).
     *
     * @return list<array{cpu_percent: float, pid: int, memory_usage: int, command: string,
     *     error: ?array{code: int, message: string, details: list<array{message: string, type_url: string}>}}>
     */
    public function statuses(string $name): array
    {
        return Wire::statuses($this->call('service.Statuses', Wire::service($name)));
    }

    /**
     * The last process's entry of statuses() (RoadRunner's deprecated
     * `service.Status`).
     *
     * @return array{cpu_percent: float, pid: int, memory_usage: int, command: string,
     *     error: ?array{code: int, message: string, details: list<array{message: string, type_url: string}>}}
     */
    public function status(string $name): array
    {
        return Wire::status($this->call('service.Status', Wire::service($name)));
    }

    private function call(string $method, string $body): string
    {
        try {
            return $this->rpc->callRaw($method, $body, Frame::CODEC_PROTO);
        } catch (\Throwable $e) {
            throw ServiceException::fromCall($method, $e);
        }
    }
}
