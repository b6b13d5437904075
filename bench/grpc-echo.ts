/** The bare gRPC echo method of bench:protocols: one unary call with JSON bodies, no .proto. */
import type * as grpc from '@grpc/grpc-js';

const encode = (v: unknown) => Buffer.from(JSON.stringify(v));
const decode = (b: Buffer) => JSON.parse(b.toString()) as unknown;

/** Service definition shared by the echo server and its client. */
export const echoDefinition = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: encode,
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: decode,
  },
} satisfies grpc.ServiceDefinition;
