<?php

declare(strict_types=1);

// Drives the RPC server from PHP with the SDK client; prints one JSON
// object with what it saw (read by tests/rpc.rs).

require __DIR__ . '/../../../../php/autoload.php';

use Coyote\RPC\Informer;
use Coyote\RPC\RPC;
use Coyote\RPC\ServiceException;

$rpc = RPC::create();
$informer = new Informer($rpc);
$out = ['plugins' => $informer->plugins(), 'workers' => $informer->workers('http')];
try {
    $rpc->call('informer.Nope', true);
    $out['error'] = null;
} catch (ServiceException $e) {
    $out['error'] = $e->getMessage();
}
$out['prefixed'] = $rpc->withServicePrefix('informer')->call('list', true);
$out['reset'] = $informer->reset('http');
$out['after'] = array_column($informer->workers('http'), 'pid');
echo json_encode($out), "\n";
