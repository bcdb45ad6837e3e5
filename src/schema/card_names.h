// What a key's name says about a card (incident 1, docs/cards.md): named
// like a security code (CVV, CVC, cryptogram, PIN), like a card number,
// like a date, or like another kind of number (a NIR, an IBAN, a phone).
// Shared by the schema (a field may not be named like a security code) and
// by its security-code rule (security_code.h), so that no
// schema can declare a field every input to which that detector refuses.
//
//   schema::LooksLikeSecurityCodeName("card_CVV2");   // true
//   schema::ClassifyKey("expiry_year").date;          // true
//
// A name is split into words at every character that is not an ASCII letter
// or digit and where a lower-case letter or a digit meets an upper-case one
// ("cardCVV2" -> card, cvv2), lower-cased; it is also read "squashed", its
// letters and digits only ("Security-Code" -> securitycode):
//   security code  a word cvv, cvv2, cvc, cvc2, cid, csc, cvn, cvn2, cav2,
//                  cvd, ccv, ccv2, cv2, pin or pinblock, or a squashed name
//                  containing cvv, cvc, cryptogram (cryptogramme),
//                  securitycode, cardverification, verificationvalue,
//                  cardcode or codesecurite;
//   card number    a word pan, or a squashed name containing cardnumber,
//                  cardno, ccnum, numerocarte, numerodecarte or
//                  primaryaccountnumber;
//   date           a word year, yy, yyyy, month, mm, exp, expiry,
//                  expiration, expires, annee or mois, or a squashed name
//                  containing expiry, expiration or year;
//   other number   a word nir, insee, ssn, iban, bban, rib, bic, phone,
//                  telephone, tel, mobile, fax, siret or siren, or a
//                  squashed name containing phone, iban, siret or siren.
//
// Thread-safety: pure functions. No allocation for names up to 128 bytes.
#pragma once

#include <string_view>

namespace coffre::schema {

struct KeyClass {
  bool security_code = false;
  bool pan = false;
  bool date = false;
  bool other_number = false;
};

KeyClass ClassifyKey(std::string_view key);

inline bool LooksLikeSecurityCodeName(std::string_view key) {
  return ClassifyKey(key).security_code;
}
inline bool LooksLikePanName(std::string_view key) { return ClassifyKey(key).pan; }

}  // namespace coffre::schema
