<?php

declare(strict_types=1);

namespace Coyote\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Out of descriptors in reuseport mode: the worker's accept loop pauses
 * (5 ms, doubling up to 1 s) instead of spinning on a listening socket
 * that stays readable, and takes the waiting connection once descriptors
 * are free. The child (tests/Support/emfile-acceptor.php) uses up its
 * descriptors itself; time passing is the behaviour under test: the number
 * of loop turns in a fixed window tells a pause from a spin.
 */
final class HandoffEmfileTest extends TestCase
{
    public function testAcceptPausesWhenOutOfDescriptorsAndRecovers(): void
    {
        $server = socket_create(\AF_INET, \SOCK_STREAM, \SOL_TCP);
        self::assertNotFalse($server);
        self::assertTrue(socket_bind($server, '127.0.0.1', 0));
        self::assertTrue(socket_listen($server, 16));
        socket_getsockname($server, $host, $port);
        // The client's connection completes in the kernel and waits in the backlog.
        $client = stream_socket_client("tcp://127.0.0.1:$port", $errno, $error, 5.0);
        self::assertNotFalse($client, $error);

        $child = proc_open(
            [\PHP_BINARY, __DIR__ . '/Support/emfile-acceptor.php'],
            [1 => ['pipe', 'w'], 2 => ['pipe', 'w'], 3 => socket_export_stream($server)],
            $pipes,
        );
        self::assertIsResource($child);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $status = proc_close($child);
        self::assertSame(0, $status, "child failed: $out $err");
        $result = json_decode((string) $out, true);
        self::assertIsArray($result, "child said: $out $err");
        self::assertTrue($result['paused'], 'the listener reported no pause while out of descriptors');
        // 0.6 s of pauses doubling from 5 ms is ~7 turns; a spin makes thousands.
        self::assertLessThanOrEqual(20, $result['turns'], 'the accept loop spun while out of descriptors');
        self::assertGreaterThanOrEqual(2, $result['turns']);
        self::assertSame(1, $result['accepted'], 'the waiting connection was not taken once descriptors were free');
        fclose($client);
    }
}
