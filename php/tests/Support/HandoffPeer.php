<?php

declare(strict_types=1);

namespace Coyote\Tests\Support;

use Coyote\Goridge\Frame;
use PHPUnit\Framework\Assert;

/**
 * Coyote's side of the hand-off protocol, for tests without the server: a
 * SOCK_SEQPACKET socket pair whose other end is the worker's fd 3, and in
 * reuseport mode a TCP listener on 127.0.0.1:0 as its fd 4. The worker is
 * a PHP script run with proc_open(). In fd_passing mode connect() plays
 * Coyote's accept: it connects a client, accepts it on a listener of its
 * own and passes the accepted descriptor with SCM_RIGHTS, keeping its copy
 * until the worker reports the close (as Coyote does).
 */
final class HandoffPeer
{
    public const TIMEOUT = 10.0;

    public readonly \Socket $control;
    /** @var resource|null the worker's listening socket (reuseport) */
    public $listen = null;
    public string $address = '';
    /** @var resource */
    private $process;
    /** @var resource|null Coyote's own listener (fd_passing) */
    private $accepting = null;
    private int $nextId = 100;
    /** @var array<int, resource> passed descriptors Coyote still holds, by id */
    public array $held = [];
    /** @var list<int> ids reported closed so far */
    public array $closed = [];
    /** @var list<array<mixed>> every report received */
    public array $reports = [];
    private string $stderr;
    private ?int $exitCode = null;

    /** @param array<string, string> $env added to the worker's environment */
    public function __construct(string $script, public readonly string $mode, array $env = [])
    {
        if (!socket_create_pair(\AF_UNIX, \SOCK_SEQPACKET, 0, $pair)) {
            Assert::fail('socket_create_pair(AF_UNIX, SOCK_SEQPACKET) failed');
        }
        [$this->control, $theirs] = $pair;
        $descriptors = [
            0 => ['file', '/dev/null', 'r'],
            1 => ['file', '/dev/null', 'w'],
            2 => ['file', $this->stderr = tempnam(sys_get_temp_dir(), 'handoff-err-'), 'w'],
            3 => socket_export_stream($theirs),
        ];
        $env += [
            'RR_MODE' => $mode,
            'COYOTE_HANDOFF_FD' => '3',
            'COYOTE_HANDOFF_LISTENER' => 'web',
            'RR_VERSION' => 'test',
        ];
        if ($mode === 'reuseport') {
            $this->listen = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
            Assert::assertNotFalse($this->listen, "listen: $error");
            stream_set_blocking($this->listen, false);
            $this->address = (string) stream_socket_get_name($this->listen, false);
            $descriptors[4] = $this->listen;
            $env += ['COYOTE_LISTEN_FD' => '4', 'COYOTE_LISTEN_ADDRESS' => 'tcp://' . $this->address];
        } else {
            $this->accepting = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
            Assert::assertNotFalse($this->accepting, "listen: $error");
            $this->address = (string) stream_socket_get_name($this->accepting, false);
        }
        // PHP's sockets are not close-on-exec, so the worker would inherit
        // this process' descriptors (Coyote's end of the control socket
        // among them: its hang-up would never be seen). Coyote's are
        // CLOEXEC; bash closes everything above the worker's own (3, or 4 in reuseport) to match.
        $command = 'for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt "$2" ] && eval "exec $n>&-"; done; exec "$0" "$1"';
        $process = proc_open(['/bin/bash', '-c', $command, \PHP_BINARY, $script, (string) max(array_keys($descriptors))], $descriptors, $pipes, null, $env + getenv());
        Assert::assertIsResource($process, "cannot start $script");
        $this->process = $process;
        // The worker has its copies now.
        fclose($descriptors[3]);
        unset($theirs, $pair);
    }

    public function __destruct()
    {
        if ($this->exitCode === null && proc_get_status($this->process)['running']) {
            proc_terminate($this->process, 9);
        }
        proc_close($this->process);
        @unlink($this->stderr);
    }

    public function pid(): int
    {
        return proc_get_status($this->process)['pid'];
    }

    public function stderr(): string
    {
        return (string) file_get_contents($this->stderr);
    }

    /** Coyote's pid frame, then the worker's answer (checked). */
    public function handshake(): Frame
    {
        $this->send(new Frame('{"pid":' . getmypid() . '}', Frame::CONTROL | Frame::CODEC_JSON));
        $frame = $this->receive();
        Assert::assertNotNull($frame, 'no handshake answer; stderr: ' . $this->stderr());
        Assert::assertTrue($frame->hasFlag(Frame::CONTROL), 'the answer is a CONTROL frame');
        Assert::assertSame(['pid' => $this->pid()], json_decode($frame->payload, true));
        return $frame;
    }

    /** @param resource|null $fd attached as SCM_RIGHTS */
    public function send(Frame $frame, $fd = null): void
    {
        $message = ['iov' => [$frame->encode()]];
        if ($fd !== null) {
            // A stream, not a Socket: PHP 8.2's socket_sendmsg() sends fd 0
            // for a Socket object in SCM_RIGHTS data.
            $message['control'] = [['level' => \SOL_SOCKET, 'type' => \SCM_RIGHTS, 'data' => [$fd]]];
        }
        Assert::assertNotFalse(socket_sendmsg($this->control, $message, 0), 'sendmsg: ' . socket_strerror(socket_last_error($this->control)));
    }

    public function sendRaw(string $bytes): void
    {
        Assert::assertNotFalse(socket_send($this->control, $bytes, \strlen($bytes), 0));
    }

    public function stop(): void
    {
        $this->send(new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
    }

    /** The next frame from the worker, or null at EOF / after $timeout. */
    public function receive(float $timeout = self::TIMEOUT): ?Frame
    {
        $read = [$this->control];
        $write = $except = null;
        if (socket_select($read, $write, $except, (int) $timeout, (int) (fmod($timeout, 1.0) * 1e6)) < 1) {
            return null;
        }
        $bytes = '';
        $n = socket_recv($this->control, $bytes, 1 << 20, 0);
        if ($n === false || $n === 0) {
            return null;
        }
        $frame = Frame::decode((string) $bytes);
        if (!$frame->hasFlag(Frame::CONTROL)) {
            Assert::assertTrue($frame->hasFlag(Frame::CODEC_JSON), 'a report is CODEC_JSON');
            $report = json_decode($frame->payload, true, 512, \JSON_THROW_ON_ERROR);
            $this->reports[] = $report;
            foreach ($report['closed'] ?? [] as $id) {
                $this->closed[] = $id;
                if (isset($this->held[$id])) {
                    fclose($this->held[$id]);
                    unset($this->held[$id]);
                }
            }
        }
        return $frame;
    }

    /** Reads reports until $id is reported closed; fails after the timeout. */
    public function waitClosed(int $id, float $timeout = self::TIMEOUT): void
    {
        $deadline = microtime(true) + $timeout;
        while (!\in_array($id, $this->closed, true)) {
            $left = $deadline - microtime(true);
            Assert::assertGreaterThan(0, $left, "connection $id not reported closed; reports: " . json_encode($this->reports));
            $this->receive($left);
        }
    }

    /** Reads reports until one satisfies $match; returns it. */
    public function waitReport(callable $match, float $timeout = self::TIMEOUT): array
    {
        $deadline = microtime(true) + $timeout;
        $seen = \count($this->reports);
        while (true) {
            for (; $seen < \count($this->reports); $seen++) {
                if ($match($this->reports[$seen])) {
                    return $this->reports[$seen];
                }
            }
            $left = $deadline - microtime(true);
            Assert::assertGreaterThan(0, $left, 'no matching report; reports: ' . json_encode($this->reports) . '; stderr: ' . $this->stderr());
            $this->receive($left);
        }
    }

    /**
     * A client connection to the worker: fd_passing, accepted here and
     * passed with the next id; reuseport, connected to the worker's
     * listener (the id is the worker's).
     *
     * @return array{resource, int} the client's stream and the id (0 in reuseport)
     */
    public function connect(): array
    {
        $client = stream_socket_client('tcp://' . $this->address, $errno, $error, self::TIMEOUT);
        Assert::assertNotFalse($client, "connect: $error");
        if ($this->mode === 'reuseport') {
            return [$client, 0];
        }
        $accepted = stream_socket_accept($this->accepting, self::TIMEOUT, $peer);
        Assert::assertNotFalse($accepted);
        $id = $this->nextId++;
        $meta = ['id' => $id, 'peer' => $peer, 'local' => $this->address, 'listener' => 'web'];
        $this->send(new Frame((string) json_encode($meta), Frame::CODEC_JSON), $accepted);
        $this->held[$id] = $accepted;
        return [$client, $id];
    }

    /** Waits for the worker to exit; its exit code, or null if it still runs after $timeout. */
    public function wait(float $timeout = self::TIMEOUT): ?int
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                return $this->exitCode = $status['exitcode'];
            }
            if (microtime(true) > $deadline) {
                return null;
            }
            usleep(10000);
        }
    }
}
