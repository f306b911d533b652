// Type-checks against the built declarations of `fairway` (require).
import fairway = require('fairway-grpc');
import grpc = require('@grpc/grpc-js');

const options: fairway.FairwayOptions = { zone: 'eu-west-1a' };
const channel: grpc.Channel = fairway.createChannel('static:///127.0.0.1:50051', grpc.credentials.createInsecure(), options);
channel.close();
