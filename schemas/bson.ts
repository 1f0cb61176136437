import { BSON } from 'mongodb';

/**
 * The one BSON build of the project: the MongoDB driver's. The `bson` package's ES-module build
 * has its own classes, so a Long decoded with it is not `instanceof` the driver's Long, and the
 * driver's errors are not its BSONError. Import BSON values and EJSON from here (lint enforces it).
 */
export const { EJSON, BSONError } = BSON;
export type BSONError = InstanceType<typeof BSON.BSONError>;
export { BSON, Binary, BSONRegExp, BSONSymbol, Code, DBRef, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID } from 'mongodb';
export type { Document } from 'mongodb';
