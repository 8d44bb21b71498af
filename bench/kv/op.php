<?php

declare(strict_types=1);

// One kv operation in a loop for bench/kv/count.sh: warms up, prints "ready PID",
// then runs N calls per line read on stdin and prints the mean.
// php op.php SDK_DIR RPC_ADDRESS REDIS_HOST:PORT memory|redis|php-redis get|set|mget10 N
[$_, $sdk, $rpcAddress, $redisAddress, $target, $op, $n] = $argv;
require "$sdk/autoload.php";
use Coyote\KeyValue\Cache; use Coyote\KeyValue\RawSerializer; use Coyote\RPC\RPC;
$n=(int)$n; $value=str_repeat('v',100); $keys10=array_map(fn($i)=>"bench:m:$i", range(0,9));
if ($target==='php-redis') { [$h,$p]=explode(':',$redisAddress); $r=new Redis(); $r->connect($h,(int)$p); $r->select(15); $r->mSet(array_fill_keys($keys10,$value));
  $f = match($op){'get'=>fn($i)=>$r->get('bench:s:'.($i%1000)),'set'=>fn($i)=>$r->set('bench:s:'.($i%1000),$value),'mget10'=>fn($i)=>$r->mGet($keys10)}; }
else { $c=new Cache(RPC::create($rpcAddress),$target,new RawSerializer()); $c->setMultiple(array_fill_keys($keys10,$value));
  $f = match($op){'get'=>fn($i)=>$c->get('bench:s:'.($i%1000)),'set'=>fn($i)=>$c->set('bench:s:'.($i%1000),$value),'mget10'=>fn($i)=>$c->getMultiple($keys10)}; }
for($i=0;$i<1000;$i++) $f($i);
fwrite(STDOUT, "ready ".getmypid()."\n");
while (fgets(STDIN) !== false) {
$t=hrtime(true); for($i=0;$i<$n;$i++) $f($i); $dt=(hrtime(true)-$t)/1e3/$n;
fwrite(STDOUT, sprintf("%s %s mean_us=%.1f\n",$target,$op,$dt));
}
