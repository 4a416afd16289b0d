"use strict";
const { unmarshall } = require('@aws-sdk/util-dynamodb');

exports.handler = async function (event, context) {
  for (const record of event?.Records) {
    if (record?.eventName != "INSERT") {
      continue;
    }

    // process new records
    const item = unmarshall(record?.dynamodb?.NewImage);
    console.log("processing item", item);
  }
};
